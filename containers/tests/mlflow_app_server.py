"""MLflow's own tracking server standing in for a SageMaker MLflow App in tests (test_tracking_sagemaker.py).

``python mlflow_app_server.py STORE_DIR ARTIFACT_ROOT REQUEST_LOG``: serves MLflow's REST handlers on a free port of
127.0.0.1 (printed as ``PORT <n>``), runs in a file store under STORE_DIR, artifact root ARTIFACT_ROOT (an S3 URI:
clients write artifacts there themselves, as with an App), and appends the method, path and Authorization header of
every request to REQUEST_LOG (one JSON line each). A process of its own: the handlers set MLflow's process-wide
tracking URI to their store, which would hide a client's in the same process.
"""

from __future__ import annotations

import json
import os
import sys
import threading


def main(store_dir: str, artifact_root: str, request_log: str) -> None:
    os.environ["_MLFLOW_SERVER_FILE_STORE"] = f"file://{os.path.abspath(store_dir)}/mlruns"
    os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = artifact_root
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.server import app
    from werkzeug.serving import make_server

    lock = threading.Lock()

    def recorded(environ, start_response):
        line = json.dumps([environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("HTTP_AUTHORIZATION", "")])
        with lock, open(request_log, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, recorded, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:4])

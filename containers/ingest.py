"""SageMaker entry point for medllama.ingest (the code lives in containers/medllama/ingest)."""

from medllama.bootstrap import ensure_requirements

ensure_requirements()

from medllama.ingest import main  # noqa: E402

# Ingest's worker pool uses the spawn start method, which re-imports this script in every worker as __mp_main__:
# without the guard each worker would run the whole step again (and start its own pool).
if __name__ == "__main__":
    raise SystemExit(main())

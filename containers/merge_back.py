"""SageMaker entry point for medllama.merge_back (the code lives in containers/medllama/merge_back)."""

from medllama.bootstrap import ensure_requirements

ensure_requirements()

from medllama.merge_back.run import main  # noqa: E402

# A step's worker processes may be started with the spawn method, which imports this script again in each
# worker: only the process SageMaker started runs the step.
if __name__ == "__main__":
    raise SystemExit(main())

"""SageMaker entry point for medllama.evaluate (the code lives in containers/medllama/evaluate)."""

from medllama.bootstrap import ensure_requirements

ensure_requirements()

from medllama.evaluate import main  # noqa: E402

raise SystemExit(main())

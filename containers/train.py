"""SageMaker entry point for medllama.train (the code lives in containers/medllama/train)."""

from medllama.bootstrap import ensure_requirements

ensure_requirements()

from medllama.train import main  # noqa: E402

raise SystemExit(main())

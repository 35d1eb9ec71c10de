"""SageMaker entry point for medllama.tokenization (the code lives in containers/medllama/tokenization)."""

from medllama.bootstrap import ensure_requirements

ensure_requirements()

from medllama.tokenization import main  # noqa: E402

raise SystemExit(main())

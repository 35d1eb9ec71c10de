"""SageMaker entry point for medllama.dedup (the code lives in containers/medllama/dedup)."""

from medllama.bootstrap import ensure_requirements

ensure_requirements()

from medllama.dedup import main  # noqa: E402

raise SystemExit(main())

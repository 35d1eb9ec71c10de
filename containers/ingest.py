"""SageMaker entry point for medllama.ingest (the code lives in containers/medllama/ingest)."""

from medllama.bootstrap import ensure_requirements

ensure_requirements()

from medllama.ingest import main  # noqa: E402

raise SystemExit(main())

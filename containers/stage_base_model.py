"""SageMaker entry point for medllama.stage_base_model (the code lives in containers/medllama/stage_base_model)."""

from medllama.bootstrap import ensure_requirements

ensure_requirements()

from medllama.stage_base_model import main  # noqa: E402

raise SystemExit(main())

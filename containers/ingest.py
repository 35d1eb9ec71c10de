"""SageMaker entry point for medllama.ingest (the code lives in containers/medllama/ingest)."""

if __name__ == "__main__":
    # Guarded: Ingest's worker pool starts its processes with "spawn", which re-runs this file in each worker as
    # __mp_main__; unguarded, every worker would run the step again and fail to start a pool of its own, and the
    # pool would replace the dead workers forever (the step hung with more than one CPU).
    from medllama.bootstrap import ensure_requirements

    ensure_requirements()

    from medllama.ingest import main

    raise SystemExit(main())

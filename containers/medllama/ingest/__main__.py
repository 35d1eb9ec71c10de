from medllama.ingest import main

raise SystemExit(main())

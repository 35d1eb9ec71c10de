from medllama.dedup import main

raise SystemExit(main())

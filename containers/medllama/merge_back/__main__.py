from medllama.merge_back.run import main

raise SystemExit(main())

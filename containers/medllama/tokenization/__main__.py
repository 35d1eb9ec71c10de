from medllama.tokenization import main

raise SystemExit(main())

from nnexp.bench.reference_app.app import main

main()

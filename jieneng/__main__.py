from jieneng.cli import main

main()

"""Operations over whole campaigns, and the round's recipe: what the CLI's commands and the benchmarks
call. docs/ARCHITECTURE.md names each module."""

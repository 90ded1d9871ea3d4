build2/helpers/dirstress: tests/mount/helpers/dirstress.c

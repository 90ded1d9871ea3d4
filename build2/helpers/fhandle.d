build2/helpers/fhandle: tests/mount/helpers/fhandle.c

build2/helpers/mmapfill: tests/mount/helpers/mmapfill.c

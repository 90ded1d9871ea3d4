build2/raid/label.o: raid/label.c raid/raid_int.h raid/raid.h \
 raid/engine.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:

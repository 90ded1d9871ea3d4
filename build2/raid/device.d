build2/raid/device.o: raid/device.c raid/raid_int.h raid/raid.h \
 raid/engine.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:

#!/usr/bin/python3
# A stand-in for an SD card whose cache flush costs milliseconds, for measuring data-mirror's
# durability scheme (README, "After a power loss"). A FUSE file system holds one file, disk.img,
# backed by a real file; each fsync of it sleeps FLUSH_MS first, one at a time, and counts itself in
# /tmp/slowflush.count. A loop device on disk.img turns every cache flush of a file system on it
# into such an fsync.
#
#   apt-get install -y python3-fusepy fuse
#   truncate -s 3G /var/tmp/sd_backing.img && mkdir -p /mnt/sdfuse /mnt/sd
#   /usr/bin/python3 docs/benchmark/slow_flush_fs.py /var/tmp/sd_backing.img /mnt/sdfuse 5 &
#   LOOP=$(losetup -f --show /mnt/sdfuse/disk.img) && mkfs.ext4 -q -F $LOOP && mount $LOOP /mnt/sd
#   # then run passes with VIAM_HOME under /mnt/sd; afterwards:
#   umount /mnt/sd && losetup -d $LOOP && fusermount -u /mnt/sdfuse
import errno, os, stat, sys, threading, time
from fusepy import FUSE, FuseOSError, Operations

BACKING, MOUNT, FLUSH_MS = sys.argv[1], sys.argv[2], float(sys.argv[3])
_flushes = 0
_flush_lock = threading.Lock()


class SlowFlush(Operations):
    def __init__(self):
        self.fd = os.open(BACKING, os.O_RDWR)

    def getattr(self, path, fh=None):
        if path == "/":
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2)
        if path == "/disk.img":
            info = os.fstat(self.fd)
            return dict(st_mode=stat.S_IFREG | 0o644, st_nlink=1, st_size=info.st_size,
                        st_mtime=info.st_mtime)
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", "..", "disk.img"]

    def open(self, path, flags):
        return 0

    def read(self, path, size, offset, fh):
        return os.pread(self.fd, size, offset)

    def write(self, path, data, offset, fh):
        return os.pwrite(self.fd, data, offset)

    def truncate(self, path, length, fh=None):
        pass

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        global _flushes
        with _flush_lock:  # a card takes one flush at a time
            time.sleep(FLUSH_MS / 1000)
            os.fdatasync(self.fd)
            _flushes += 1
            with open("/tmp/slowflush.count", "w") as counter:
                counter.write(str(_flushes))
        return 0


FUSE(SlowFlush(), MOUNT, foreground=True, nothreads=False, allow_other=True, big_writes=True,
     max_write=1048576)

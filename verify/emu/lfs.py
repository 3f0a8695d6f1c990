"""MicroPython rp2's littlefs2 filesystem on the host: an image from {path: bytes}, files read back from flash.

The geometry and cache sizes are those of the stock RPI_PICO build (ports/rp2: 1408 KB at flash offset 0xA0000,
4096-byte blocks; extmod/vfs_lfsx.c: read/prog 32, lookahead 32, block_cycles 100, cache 128), so the firmware
mounts the image as `/` and littlefs-python mounts what the firmware wrote.
"""

import littlefs

FS_OFFSET = 0xA0000
BLOCK_SIZE = 4096
BLOCK_COUNT = 352
FS_BYTES = BLOCK_SIZE * BLOCK_COUNT
_GEOMETRY = {"block_size": BLOCK_SIZE, "block_count": BLOCK_COUNT, "read_size": 32, "prog_size": 32,
             "lookahead_size": 32, "block_cycles": 100, "cache_size": 128, "name_max": 255}


class FsError(Exception):
    """The flash region holds no mountable filesystem, or a file cannot be placed in one."""


def _clean(path):
    """'lib/x.py' from '/lib/x.py'; refuses empty names, '.', '..' and empty components."""
    if not isinstance(path, str):
        raise ValueError("files: keys must be str paths, got %r" % (path,))
    parts = path.strip("/").split("/")
    if not path.strip("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError("files: %r: a path of names separated by '/', without '.', '..' or empty names" % path)
    return "/".join(parts)


def build_image(files):
    """A FS_BYTES littlefs image holding `files` ({path: bytes}; parent folders are created)."""
    fs = littlefs.LittleFS(mount=False, **_GEOMETRY)
    fs.format()
    fs.mount()
    for raw_path, data in sorted(files.items()):
        path = _clean(raw_path)
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError("files: %r: contents must be bytes, got %s" % (raw_path, type(data).__name__))
        if "/" in path:
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        try:
            with fs.open(path, "wb") as f:
                f.write(bytes(data))
        except littlefs.LittleFSError as err:
            raise FsError("files: %r: %s (the filesystem holds %d bytes)" % (raw_path, err, FS_BYTES))
    return bytes(fs.context.buffer)


def fs_region(flash):
    """The filesystem's bytes out of a whole flash dump (or the region itself)."""
    if len(flash) == FS_BYTES:
        return bytes(flash)
    if len(flash) < FS_OFFSET + FS_BYTES:
        raise ValueError("flash: %d bytes hold no filesystem region (0x%X + %d)" % (len(flash), FS_OFFSET, FS_BYTES))
    return bytes(flash[FS_OFFSET:FS_OFFSET + FS_BYTES])


def read_files(flash):
    """{path: bytes} of every file in the filesystem of `flash`; FsError if it does not mount."""
    context = littlefs.UserContext(buffsize=FS_BYTES)
    context.buffer[:] = fs_region(flash)
    fs = littlefs.LittleFS(context=context, mount=False, **_GEOMETRY)  # mount=True would format a broken one
    try:
        fs.mount()
    except littlefs.LittleFSError as err:
        raise FsError("the filesystem at flash offset 0x%X does not mount: %s" % (FS_OFFSET, err))
    files = {}
    for top, _dirs, names in fs.walk("/"):
        for name in names:
            path = (top.rstrip("/") + "/" + name).lstrip("/")
            with fs.open(path, "rb") as f:
                files[path] = f.read()
    return files

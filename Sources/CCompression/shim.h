#include <zlib.h>
#include <bzlib.h>
#include <zstd.h>

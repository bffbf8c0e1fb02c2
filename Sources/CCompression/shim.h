#include <zlib.h>
#include <bzlib.h>
#include <zstd.h>
#include <lz4.h>
#include <brotli/decode.h>

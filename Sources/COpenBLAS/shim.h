// OpenBLAS's CBLAS interface (Debian: libopenblas-dev; Homebrew: openblas).
#include <cblas.h>

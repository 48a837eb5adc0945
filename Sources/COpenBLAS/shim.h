// OpenBLAS CBLAS interface (Debian libopenblas-dev puts it under /usr/include/<triplet>/).
#include <cblas.h>

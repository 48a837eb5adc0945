// libpng 1.6, simplified API (png_image_*).
#include <png.h>

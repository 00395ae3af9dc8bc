#ifndef LBR_CNUMA_SHIM_H
#define LBR_CNUMA_SHIM_H
#include <numa.h>
#endif

/* CLbrShim — the only C between lbrprobe's Swift code and the kernel.
 * Small, prefixed (lbr_), no logic: syscall wrappers that Swift cannot call
 * (variadic syscall), ioctl request numbers (function-like macros do not
 * import), CPUID/rdtsc, pthread affinity (CPU_SET is a macro), and access to
 * the anonymous union in struct kvm_run. */
#ifndef LBR_SHIM_H
#define LBR_SHIM_H
#include "lbr_shim_cpu.h"
#include "lbr_shim_perf.h"
#include "lbr_shim_kvm.h"
#include "lbr_shim_stdfds.h"
#endif

#ifndef LBR_SHIM_CPU_H
#define LBR_SHIM_CPU_H
#include <stdint.h>
#include <sys/types.h>

/** CPUID leaf/subleaf on the calling CPU. */
typedef struct lbr_cpuid_regs { uint32_t eax, ebx, ecx, edx; } lbr_cpuid_regs;
lbr_cpuid_regs lbr_cpuid(uint32_t leaf, uint32_t subleaf);

/** Time-stamp counter of the calling CPU. */
uint64_t lbr_rdtsc(void);

/** Pin the calling thread to one CPU. Returns 0 or an errno value. */
int lbr_pin_self_to_cpu(int cpu);
/** Restrict the calling thread to the CPUs in `cpus[0..<count]`. Returns 0 or an errno value. */
int lbr_set_self_affinity(const int *cpus, int count);
/** CPU the calling thread runs on (sched_getcpu), or -1 with errno set. */
int lbr_current_cpu(void);
/** Kernel thread id of the caller (gettid). */
pid_t lbr_gettid(void);
/** The CPUs in the calling thread's affinity mask, ascending, into `cpus[0..<max]` (one pthread_getaffinity_np):
 *  how many there are (at most `max` written), or -errno. */
int lbr_self_affinity(int *cpus, int max);
/** Names the calling thread (pthread_setname_np; the kernel keeps 15 bytes): 0 or an errno. */
int lbr_set_self_name(const char *name);
/** The calling thread's name into buf (pthread_getname_np): 0 or an errno. */
int lbr_get_self_name(char *buf, size_t len);
#endif

/* CRefVmm — a minimal C reference VMM for lbrbench: runs the guest's exit loop so the Swift
 * VMM's exits/s can be compared with plain C doing the same ioctls. Not used by lbrprobe. */
#ifndef LBR_REFVMM_H
#define LBR_REFVMM_H
#include <stddef.h>
#include <stdint.h>

typedef struct lbr_refvmm_result {
    int err;               /* 0, or the errno of the failing step */
    const char *step;      /* the failing step, or "ok" */
    uint32_t last_exit;    /* last kvm_run exit_reason */
    uint64_t exits;        /* PING doorbell exits handled */
    uint64_t elapsed_ns;   /* from the first KVM_RUN after READY to the DONE exit */
} lbr_refvmm_result;

/** Creates a VM with `mem_size` bytes of RAM initialised from `image`, one vCPU with KVM's
 *  supported CPUID and the given `struct kvm_sregs` / `struct kvm_regs` (passed as bytes; apic_base
 *  is kept from the new vCPU), pins the calling thread to `cpu` (restored afterwards), runs to the
 *  READY doorbell, then counts PING doorbells until DONE. Everything is closed before returning. */
lbr_refvmm_result lbr_refvmm_run_exit_loop(int cpu, const void *image, size_t image_len, size_t mem_size,
                                           const void *sregs, const void *regs, uint16_t port,
                                           uint32_t ready, uint32_t ping, uint32_t done);
#endif

/* lbrprobe guest payload: 64-bit code entered directly in long mode by the VMM
 * (paging, GDT, IDT and segment state are set by LbrLinux/LongMode.swift).
 *
 * Loop: ring READY once, then forever { read the command from the mailbox, execute it,
 * write the result, ring DONE }. Exceptions (vectors 0..31) land in stubs that record
 * vector, error code and faulting RIP in the mailbox, reset the stack and ring DONE, so the
 * VM stays usable after e.g. a #GP on an MSR access.
 *
 * Register use: %rbx = mailbox base (constant), everything else scratch.
 * Only RIP-relative self references: the bytes are copied to LBR_GUEST_LOAD_ADDR. */
#include "include/CLbrGuest.h"

#define MB(off) (LBR_GUEST_MAILBOX_ADDR + (off))

/* %rax = the 64-bit TSC (clobbers %rdx). */
.macro RDTSC64
        rdtsc
        shl $32, %rdx
        mov %eax, %eax
        or %rdx, %rax
.endm

/* Control-flow edges (§9.3: with guest DEBUGCTL.LBR=1 the CPU records every taken branch of the
 * payload, not only the branch pattern). Every branch instruction that can be taken, and every call and
 * ret, is emitted through these macros, which also append one row to lbr_guest_edges:
 * { edge id (LBR_EDGE_*), FROM offset, TO offset, return-point offset (calls) or 0 }.
 * PayloadProgram (Swift) derives each command's taken-branch trace from this table; a test single-steps the
 * real guest and compares. */
.macro EDGE_ROW id, from, to, retpt
        .pushsection .rodata.lbr_guest_edges, "a"
        .long \id
        .long \from - lbr_guest_start
        .long \to - lbr_guest_start
        .long \retpt
        .popsection
.endm
/* a conditional or unconditional jump to a named label */
.macro EJ id, insn, target
g_ej_\@:
        \insn \target
        EDGE_ROW \id, g_ej_\@, \target, 0
.endm
/* a call: FROM = the call, TO = the function, return point = the next instruction */
.macro ECALL id, fn
g_ec_\@:
        call \fn
g_ecr_\@:
        EDGE_ROW \id, g_ec_\@, \fn, (g_ecr_\@ - lbr_guest_start)
.endm
/* the one ret of a helper: FROM = the ret, TO = 0 (the return point of the call that entered it) */
.macro ERET id
g_er_\@:
        ret
        EDGE_ROW \id, g_er_\@, g_er_\@, 0
.endm

        .section .rodata.lbr_guest_edges, "a"
        .p2align 2
        .globl lbr_guest_edges
lbr_guest_edges:

        .section .rodata.lbr_guest, "a"
        .code64
        .p2align 12
        .globl lbr_guest_start
lbr_guest_start:
g_entry:
        mov $LBR_GUEST_STACK_TOP, %rsp
        mov $LBR_GUEST_MAILBOX_ADDR, %rbx
        mov $LBR_GUEST_DOORBELL_PORT, %dx
        mov $LBR_GUEST_DB_READY, %eax
        out %eax, %dx

g_cmd_loop:
        mov $LBR_GUEST_STACK_TOP, %rsp
        mov $LBR_GUEST_MAILBOX_ADDR, %rbx
        /* fresh result header: RUNNING, no values. The begin TSC is read before the seq is published, so a
           host that has seen the seq acts at or after the command's begin on the guest TSC line (the store of
           the seq retires, and becomes visible, only after the RDTSC), however long the vCPU is preempted. */
        movl $0, LBR_MB_RES_MAGIC(%rbx)
        RDTSC64
        mov %rax, LBR_MB_RES_TSC0(%rbx)
        mov LBR_MB_CMD_SEQ(%rbx), %eax
        mov %eax, LBR_MB_RES_SEQ(%rbx)
        movl $LBR_ST_RUNNING, LBR_MB_RES_STATUS(%rbx)
        movl $0, LBR_MB_RES_VECTOR(%rbx)
        movq $0, LBR_MB_RES_RIP(%rbx)
        movq $0, LBR_MB_RES_ERRCODE(%rbx)
        movl $0, LBR_MB_RES_COUNT(%rbx)
        movl $LBR_MB_VALUES, LBR_MB_RES_VOFF(%rbx)

        cmpl $LBR_MB_CMD_MAGIC_VALUE, LBR_MB_CMD_MAGIC(%rbx)
        jne g_badcmd
        mov LBR_MB_CMD_OPCODE(%rbx), %eax
        cmp $LBR_OP_NOP, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_NOP), je, g_ok
        cmp $LBR_OP_WRITE_READ, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_WRITE_READ), je, g_op_write_read
        cmp $LBR_OP_TOS_PROBE, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_TOS_PROBE), je, g_op_tos_probe
        cmp $LBR_OP_RDMSR, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_RDMSR), je, g_op_rdmsr
        cmp $LBR_OP_WRMSR, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_WRMSR), je, g_op_wrmsr
        cmp $LBR_OP_BRANCHES, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_BRANCHES), je, g_op_branches
        cmp $LBR_OP_READ_LBR, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_READ_LBR), je, g_op_read_lbr
        cmp $LBR_OP_SPIN, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_SPIN), je, g_op_spin
        cmp $LBR_OP_SPIN_FOR, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_SPIN_FOR), je, g_op_spin_for
        cmp $LBR_OP_RDTSC, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_RDTSC), je, g_op_rdtsc
        cmp $LBR_OP_EXIT_LOOP, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_EXIT_LOOP), je, g_op_exit_loop
        cmp $LBR_OP_HANG, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_HANG), je, g_op_hang
        cmp $LBR_OP_TRIPLE_FAULT, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_TRIPLE_FAULT), je, g_op_triple_fault
        cmp $LBR_OP_UD2, %eax
        EJ (LBR_EDGE_DISPATCH+LBR_OP_UD2), je, g_op_ud2
g_badcmd:
        movl $LBR_ST_BADCMD, LBR_MB_RES_STATUS(%rbx)
        EJ LBR_EDGE_BADCMD, jmp, g_finish

g_ok:
        movl $LBR_ST_OK, LBR_MB_RES_STATUS(%rbx)
g_finish:
        RDTSC64
        mov %rax, LBR_MB_RES_TSC1(%rbx)
        movl $LBR_MB_RES_MAGIC_VALUE, LBR_MB_RES_MAGIC(%rbx)
        mov $LBR_GUEST_DOORBELL_PORT, %dx
        mov $LBR_GUEST_DB_DONE, %eax
g_doorbell:
        out %eax, %dx
        EJ LBR_EDGE_LOOP, jmp, g_cmd_loop

/* ---- helpers --------------------------------------------------------------------------- */
/* %ecx = index -> %rax = value. The RDMSR of every command but TOS_PROBE. */
g_msr_read:
g_rdmsr_insn:
        rdmsr
        shl $32, %rdx
        mov %eax, %eax
        or %rdx, %rax
        ERET LBR_EDGE_RET_READ
/* %ecx = index, %rax = value. The WRMSR of every command but TOS_PROBE. */
g_msr_write:
        mov %rax, %rdx
        shr $32, %rdx
g_wrmsr_insn:
        wrmsr
        ERET LBR_EDGE_RET_WRITE
/* append %rax to the values (dropped when full) */
g_emit:
        mov LBR_MB_RES_COUNT(%rbx), %edi
        cmp $LBR_MB_MAX_VALUES, %edi
        EJ LBR_EDGE_EMIT_FULL, jae, g_emit_ret
        mov %rax, LBR_MB_VALUES(%rbx,%rdi,8)
        inc %edi
        mov %edi, LBR_MB_RES_COUNT(%rbx)
g_emit_ret:
        ERET LBR_EDGE_RET_EMIT

/* ---- commands -------------------------------------------------------------------------- */
g_op_write_read:
        mov LBR_MB_CMD_ARG0(%rbx), %ecx
        mov LBR_MB_CMD_ARG1(%rbx), %rax
        ECALL LBR_EDGE_WR_CALL_WRITE, g_msr_write
        mov LBR_MB_CMD_ARG0(%rbx), %ecx
        ECALL LBR_EDGE_WR_CALL_READ, g_msr_read
        ECALL LBR_EDGE_WR_CALL_EMIT, g_emit
        EJ LBR_EDGE_WR_OK, jmp, g_ok

/* TOS_PROBE: WRMSR arg0 = arg1 immediately followed by RDMSR arg0, no branch between (§9.3: the
 * WRITE_READ helpers ret and call between the two, and a recording LBR moves TOS by 2). Its own WRMSR and
 * RDMSR instructions: LBR_GUEST_OFF_PROBE_WRMSR / _RDMSR. */
g_op_tos_probe:
        mov LBR_MB_CMD_ARG0(%rbx), %ecx
        mov LBR_MB_CMD_ARG1(%rbx), %rax
        mov %rax, %rdx
        shr $32, %rdx
g_probe_wrmsr_insn:
        wrmsr
g_probe_rdmsr_insn:
        rdmsr
        shl $32, %rdx
        mov %eax, %eax
        or %rdx, %rax
        ECALL LBR_EDGE_PROBE_CALL_EMIT, g_emit
        EJ LBR_EDGE_PROBE_OK, jmp, g_ok

g_op_rdmsr:
        mov LBR_MB_CMD_ARG0(%rbx), %ecx
        ECALL LBR_EDGE_RD_CALL_READ, g_msr_read
        ECALL LBR_EDGE_RD_CALL_EMIT, g_emit
        EJ LBR_EDGE_RD_OK, jmp, g_ok

g_op_wrmsr:
        mov LBR_MB_CMD_ARG0(%rbx), %ecx
        mov LBR_MB_CMD_ARG1(%rbx), %rax
        ECALL LBR_EDGE_WRM_CALL_WRITE, g_msr_write
        EJ LBR_EDGE_WRM_OK, jmp, g_ok

g_op_rdtsc:
        RDTSC64
        ECALL LBR_EDGE_TSC_CALL_EMIT, g_emit
        EJ LBR_EDGE_TSC_OK, jmp, g_ok

g_op_spin:
        mov LBR_MB_CMD_ARG0(%rbx), %rcx
        test %rcx, %rcx
        EJ LBR_EDGE_SPIN_ZERO, jz, g_ok
g_spin_loop:
        dec %rcx
        EJ LBR_EDGE_SPIN_LOOP, jnz, g_spin_loop
        EJ LBR_EDGE_SPIN_OK, jmp, g_ok

/* SPIN_FOR: busy-wait on the TSC until it reaches the command's start TSC (RES_TSC0, read at the top of
 * g_cmd_loop) + arg0 microseconds * arg1 ticks per microsecond. The host measures arg1 (LbrLinux TscClock);
 * the guest TSC runs at the host TSC's rate (the VMM sets no TSC scaling). No PAUSE: it could cause
 * pause-loop exits on VMX, and the point is to stay inside KVM_RUN. A rate of 0 or a product that does
 * not fit 64 bits is rejected (BADCMD) instead of ending at once or wrapping. */
g_op_spin_for:
        mov LBR_MB_CMD_ARG0(%rbx), %rax
        mov LBR_MB_CMD_ARG1(%rbx), %rcx
        test %rcx, %rcx
        jz g_badcmd
        mul %rcx                          /* rdx:rax = us * ticks/us; CF = OF = (rdx != 0) */
        jc g_badcmd
        add LBR_MB_RES_TSC0(%rbx), %rax
        jc g_badcmd
        mov %rax, %rsi                    /* target TSC */
g_spin_for_loop:
        RDTSC64
        cmp %rsi, %rax
        EJ LBR_EDGE_SPINFOR_LOOP, jb, g_spin_for_loop
        EJ LBR_EDGE_SPINFOR_OK, jmp, g_ok

g_op_hang:
g_hang_insn:
        jmp g_hang_insn

g_op_ud2:
g_ud2_insn:
        ud2
        jmp g_ok

g_op_triple_fault:
        sub $16, %rsp
        movq $0, (%rsp)
        movq $0, 8(%rsp)
        lidt (%rsp)          /* limit 0: no gate can be delivered */
        ud2                  /* #UD -> #GP -> #DF -> triple fault (shutdown) */
        jmp g_ok

g_op_exit_loop:
        mov LBR_MB_CMD_ARG0(%rbx), %rcx
        mov $LBR_GUEST_DOORBELL_PORT, %dx
        mov $LBR_GUEST_DB_PING, %eax
        jrcxz 2f
1:      out %eax, %dx
        loop 1b
2:      jmp g_ok

/* READ_LBR: TOS, FROM[0..depth), TO[0..depth), INFO[0..depth) when INFO base != 0. */
g_op_read_lbr:
        mov LBR_MB_CMD_TOS(%rbx), %ecx
        ECALL LBR_EDGE_RL_CALL_READ, g_msr_read
        ECALL LBR_EDGE_RL_CALL_EMIT, g_emit
        mov LBR_MB_CMD_FROM(%rbx), %esi
        ECALL LBR_EDGE_RL_CALL_RANGE_FROM, g_read_range
        mov LBR_MB_CMD_TO(%rbx), %esi
        ECALL LBR_EDGE_RL_CALL_RANGE_TO, g_read_range
        mov LBR_MB_CMD_INFO(%rbx), %esi
        test %esi, %esi
        EJ LBR_EDGE_RL_NO_INFO, jz, g_ok
        ECALL LBR_EDGE_RL_CALL_RANGE_INFO, g_read_range
        EJ LBR_EDGE_RL_OK, jmp, g_ok
/* read depth MSRs starting at %esi, emitting each */
g_read_range:
        xor %r12d, %r12d
g_range_loop:
        cmp LBR_MB_CMD_DEPTH(%rbx), %r12d
        EJ LBR_EDGE_RANGE_END, jae, g_range_done
        lea (%rsi,%r12), %ecx
        ECALL LBR_EDGE_RANGE_CALL_READ, g_msr_read
        ECALL LBR_EDGE_RANGE_CALL_EMIT, g_emit
        inc %r12d
        EJ LBR_EDGE_RANGE_LOOP, jmp, g_range_loop
g_range_done:
        ERET LBR_EDGE_RET_RANGE

/* BRANCHES: arg0 taken jmps through a ring of 16 sites. Each site: test/jz (not taken until
 * done), dec, then the taken jmp (FROM) to the next site (TO), skipping int3 padding. */
.macro BSITE i, next
g_bsite_\i:
        test %rcx, %rcx
        EJ (LBR_EDGE_BSITE_END+\i), jz, g_branches_end
        dec %rcx
g_bjmp_\i:
        jmp g_bsite_\next
        EDGE_ROW (LBR_EDGE_BSITE_JMP+\i), g_bjmp_\i, g_bsite_\next, 0
        .p2align 4, 0xcc
        .pushsection .rodata.lbr_guest_sites, "a"
        .long g_bjmp_\i - lbr_guest_start
        .long g_bsite_\next - lbr_guest_start
        .popsection
.endm
        .pushsection .rodata.lbr_guest_sites, "a"
        .p2align 2
        .globl lbr_guest_branch_sites
lbr_guest_branch_sites:
        .popsection
g_op_branches:
        mov LBR_MB_CMD_ARG0(%rbx), %rcx
        cmp $LBR_GUEST_MAX_BRANCHES, %rcx     /* bounded: a larger count is rejected, never run */
        ja g_badcmd
        EJ LBR_EDGE_BR_START, jmp, g_bsite_0
        .p2align 4, 0xcc
        BSITE 0, 1
        BSITE 1, 2
        BSITE 2, 3
        BSITE 3, 4
        BSITE 4, 5
        BSITE 5, 6
        BSITE 6, 7
        BSITE 7, 8
        BSITE 8, 9
        BSITE 9, 10
        BSITE 10, 11
        BSITE 11, 12
        BSITE 12, 13
        BSITE 13, 14
        BSITE 14, 15
        BSITE 15, 0
g_branches_end:
        mov LBR_MB_CMD_ARG0(%rbx), %rax
        ECALL LBR_EDGE_BR_CALL_EMIT, g_emit
        EJ LBR_EDGE_BR_OK, jmp, g_ok

/* ---- exception stubs: push a dummy error code when the CPU does not, then the vector --- */
.macro EXC_NOERR v
g_exc_\v:
        pushq $0
        pushq $\v
        jmp g_exc_common
.endm
.macro EXC_ERR v
g_exc_\v:
        pushq $\v
        jmp g_exc_common
.endm
        EXC_NOERR 0
        EXC_NOERR 1
        EXC_NOERR 2
        EXC_NOERR 3
        EXC_NOERR 4
        EXC_NOERR 5
        EXC_NOERR 6
        EXC_NOERR 7
        EXC_ERR   8
        EXC_NOERR 9
        EXC_ERR   10
        EXC_ERR   11
        EXC_ERR   12
        EXC_ERR   13
        EXC_ERR   14
        EXC_NOERR 15
        EXC_NOERR 16
        EXC_ERR   17
        EXC_NOERR 18
        EXC_NOERR 19
        EXC_NOERR 20
        EXC_ERR   21
        EXC_NOERR 22
        EXC_NOERR 23
        EXC_NOERR 24
        EXC_NOERR 25
        EXC_NOERR 26
        EXC_NOERR 27
        EXC_NOERR 28
        EXC_ERR   29
        EXC_ERR   30
        EXC_NOERR 31
/* stack: vector, error code, RIP, CS, RFLAGS, RSP, SS */
g_exc_common:
        mov $LBR_GUEST_MAILBOX_ADDR, %rbx
        mov (%rsp), %rax
        mov %eax, LBR_MB_RES_VECTOR(%rbx)
        mov 8(%rsp), %rax
        mov %rax, LBR_MB_RES_ERRCODE(%rbx)
        mov 16(%rsp), %rax
        mov %rax, LBR_MB_RES_RIP(%rbx)
        movl $LBR_ST_FAULT, LBR_MB_RES_STATUS(%rbx)
        mov $LBR_GUEST_STACK_TOP, %rsp   /* abandon the command's frames */
        jmp g_finish
        .globl lbr_guest_end
lbr_guest_end:
        .pushsection .rodata.lbr_guest_edges, "a"
        .globl lbr_guest_edges_end
lbr_guest_edges_end:
        .popsection

/* ---- exported tables (data only) ------------------------------------------------------- */
        .section .rodata.lbr_guest_tables, "a"
        .p2align 4
        .globl lbr_guest_offsets
lbr_guest_offsets:
        .long g_entry - lbr_guest_start
        .long g_cmd_loop - lbr_guest_start
        .long g_rdmsr_insn - lbr_guest_start
        .long g_wrmsr_insn - lbr_guest_start
        .long g_hang_insn - lbr_guest_start
        .long g_ud2_insn - lbr_guest_start
        .long g_doorbell - lbr_guest_start
        .long lbr_guest_end - lbr_guest_start
        .long g_probe_wrmsr_insn - lbr_guest_start
        .long g_probe_rdmsr_insn - lbr_guest_start

        .p2align 4                       /* Swift copies these C arrays with 16-byte aligned moves */
        .globl lbr_guest_vector_offsets
lbr_guest_vector_offsets:
        .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .long g_exc_\v - lbr_guest_start
        .endr

        .section .data.rel.ro.lbr_guest_image, "aw"
        .p2align 3
        .globl lbr_guest_image
lbr_guest_image:
        .quad lbr_guest_start
        .quad lbr_guest_end - lbr_guest_start

        .p2align 3
        .globl lbr_guest_edge_table
lbr_guest_edge_table:
        .quad lbr_guest_edges
        .quad (lbr_guest_edges_end - lbr_guest_edges) / 16

        .section .note.GNU-stack, "", @progbits

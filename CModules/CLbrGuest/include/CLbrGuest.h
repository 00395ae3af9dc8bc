/* CLbrGuest — the 64-bit guest payload (guest.S) and its exported symbols.
 *
 * The payload is assembled into the host binary and COPIED by the VMM into guest memory at
 * LBR_GUEST_LOAD_ADDR (guest-physical == guest-virtual: the VMM identity-maps guest RAM with
 * 2 MiB pages). Its code only uses RIP-relative references to itself and absolute references
 * to the fixed guest addresses below, so the copy runs unchanged at the load address.
 *
 * Everything exported here is DATA: the code bytes and a table of offsets (relative to
 * lbr_guest_start). No logic in C. The mailbox byte layout is defined (and documented) by
 * LbrCore/GuestMailbox.swift; the numbers below must match it — LbrLinux checks that
 * (GuestPayload.protocolMismatches(), tested).
 */
#ifndef LBR_GUEST_H
#define LBR_GUEST_H

/* ---- Fixed guest-physical (= guest-virtual) layout -------------------------------------- */
#define LBR_GUEST_PML4_ADDR      0x1000
#define LBR_GUEST_PDPT_ADDR      0x2000
#define LBR_GUEST_PD_ADDR        0x3000
#define LBR_GUEST_GDT_ADDR       0x4000
#define LBR_GUEST_IDT_ADDR       0x5000
#define LBR_GUEST_MAILBOX_ADDR   0x6000
#define LBR_GUEST_STACK_TOP      0xF000   /* stack grows down from here to 0x7000 */
#define LBR_GUEST_LOAD_ADDR      0x10000  /* payload code */
#define LBR_GUEST_MIN_MEMORY     0x200000 /* one 2 MiB page */

/* ---- Doorbell: OUT (32-bit) to this port ------------------------------------------------- */
#define LBR_GUEST_DOORBELL_PORT  0x5A0
#define LBR_GUEST_DB_READY       0x59444552u /* "REDY": payload reached its command loop */
#define LBR_GUEST_DB_DONE        0x454E4F44u /* "DONE": result written to the mailbox    */
#define LBR_GUEST_DB_PING        0x474E4950u /* "PING": one exit of the exit-loop command */

/* ---- Mailbox layout (byte offsets in the 4 KiB mailbox page; see GuestMailbox.swift) ---- */
#define LBR_MB_CMD_MAGIC    0x000 /* u32 */
#define LBR_MB_CMD_SEQ      0x004 /* u32 */
#define LBR_MB_CMD_OPCODE   0x008 /* u32 */
#define LBR_MB_CMD_DEPTH    0x00C /* u32: LBR depth for READ_LBR */
#define LBR_MB_CMD_ARG0     0x010 /* u64 */
#define LBR_MB_CMD_ARG1     0x018 /* u64 */
#define LBR_MB_CMD_TOS      0x020 /* u32: LBR_TOS index  */
#define LBR_MB_CMD_FROM     0x024 /* u32: FROM base      */
#define LBR_MB_CMD_TO       0x028 /* u32: TO base        */
#define LBR_MB_CMD_INFO     0x02C /* u32: INFO base or 0 */
#define LBR_MB_RES_MAGIC    0x100 /* u32 */
#define LBR_MB_RES_SEQ      0x104 /* u32 */
#define LBR_MB_RES_STATUS   0x108 /* u32 */
#define LBR_MB_RES_VECTOR   0x10C /* u32 */
#define LBR_MB_RES_RIP      0x110 /* u64 */
#define LBR_MB_RES_ERRCODE  0x118 /* u64 */
#define LBR_MB_RES_TSC0     0x120 /* u64 */
#define LBR_MB_RES_TSC1     0x128 /* u64 */
#define LBR_MB_RES_COUNT    0x130 /* u32: number of u64 values */
#define LBR_MB_RES_VOFF     0x134 /* u32: byte offset of the values */
#define LBR_MB_VALUES       0x200 /* values area */
#define LBR_MB_MAX_VALUES   448   /* (4096 - 0x200) / 8 */

#define LBR_MB_CMD_MAGIC_VALUE 0x4D43424Cu /* "LBCM" */
#define LBR_MB_RES_MAGIC_VALUE 0x5352424Cu /* "LBRS" */

/* Opcodes. */
#define LBR_OP_NOP          0
#define LBR_OP_WRITE_READ   1  /* WRMSR arg0 = arg1, then RDMSR arg0 -> value */
#define LBR_OP_RDMSR        2  /* RDMSR arg0 -> value */
#define LBR_OP_WRMSR        3  /* WRMSR arg0 = arg1 */
#define LBR_OP_BRANCHES     4  /* arg0 taken branches through the branch-site ring -> value arg0;
                                  * arg0 > LBR_GUEST_MAX_BRANCHES is rejected (BADCMD) */
#define LBR_OP_READ_LBR     5  /* TOS, FROM[depth], TO[depth], INFO[depth] (if INFO != 0) */
#define LBR_OP_SPIN         6  /* arg0 iterations */
#define LBR_OP_RDTSC        7  /* -> value */
#define LBR_OP_EXIT_LOOP    8  /* arg0 doorbell PING exits (benchmark) */
#define LBR_OP_SPIN_FOR     9  /* spin until TSC >= start TSC + arg0 (us) * arg1 (TSC ticks per us);
                                  arg1 == 0 or an overflowing product: BADCMD */
#define LBR_OP_TOS_PROBE    10 /* WRMSR arg0 = arg1 immediately followed by RDMSR arg0 (no branch between) -> value */
#define LBR_OP_HANG         100 /* test only: jmp . forever */
#define LBR_OP_TRIPLE_FAULT 101 /* test only: load a null IDT, then ud2 */
#define LBR_OP_UD2          102 /* test only: ud2 (#UD, vector 6) */

/* Result status. */
#define LBR_ST_RUNNING 0
#define LBR_ST_OK      1
#define LBR_ST_FAULT   2
#define LBR_ST_BADCMD  3

#define LBR_GUEST_NUM_BRANCH_SITES 16
/* The most taken branches one BRANCHES command runs (2^26: tens of ms on VMX hardware), so a mailbox the guest
 * cannot trust never makes it loop for 2^64 iterations. */
#define LBR_GUEST_MAX_BRANCHES     0x4000000
#define LBR_GUEST_NUM_VECTORS      32

/* Offsets table indices (lbr_guest_offsets[i], relative to lbr_guest_start). */
#define LBR_GUEST_OFF_ENTRY      0 /* first instruction */
#define LBR_GUEST_OFF_CMD_LOOP   1 /* command loop (the VMM resets RIP here after a timeout) */
#define LBR_GUEST_OFF_RDMSR      2 /* THE rdmsr instruction every MSR read goes through */
#define LBR_GUEST_OFF_WRMSR      3 /* THE wrmsr instruction every MSR write goes through */
#define LBR_GUEST_OFF_HANG       4 /* the jmp-to-self of LBR_OP_HANG */
#define LBR_GUEST_OFF_UD2        5 /* the ud2 of LBR_OP_UD2 */
#define LBR_GUEST_OFF_DOORBELL   6 /* the out of the DONE doorbell */
#define LBR_GUEST_OFF_SIZE       7 /* payload size in bytes */
#define LBR_GUEST_OFF_PROBE_WRMSR 8 /* the WRMSR of LBR_OP_TOS_PROBE */
#define LBR_GUEST_OFF_PROBE_RDMSR 9 /* the RDMSR right after it */
#define LBR_GUEST_OFF_COUNT      10

/* ---- Control-flow edges (lbr_guest_edges rows: id, FROM, TO, return point; see guest.S EJ/ECALL/ERET) ---- */
#define LBR_EDGE_LOOP              1  /* jmp g_cmd_loop after the DONE doorbell */
#define LBR_EDGE_BADCMD            2  /* jmp g_finish after BADCMD */
#define LBR_EDGE_EMIT_FULL         3  /* jae in g_emit when the values area is full */
#define LBR_EDGE_DISPATCH          16 /* + opcode (0..15): the taken je of the dispatch chain */
#define LBR_EDGE_WR_CALL_WRITE     40
#define LBR_EDGE_WR_CALL_READ      41
#define LBR_EDGE_WR_CALL_EMIT      42
#define LBR_EDGE_WR_OK             43
#define LBR_EDGE_PROBE_CALL_EMIT   44
#define LBR_EDGE_PROBE_OK          45
#define LBR_EDGE_RD_CALL_READ      46
#define LBR_EDGE_RD_CALL_EMIT      47
#define LBR_EDGE_RD_OK             48
#define LBR_EDGE_WRM_CALL_WRITE    49
#define LBR_EDGE_WRM_OK            50
#define LBR_EDGE_TSC_CALL_EMIT     51
#define LBR_EDGE_TSC_OK            52
#define LBR_EDGE_SPIN_ZERO         53
#define LBR_EDGE_SPIN_LOOP         54
#define LBR_EDGE_SPIN_OK           55
#define LBR_EDGE_SPINFOR_LOOP      56
#define LBR_EDGE_SPINFOR_OK        57
#define LBR_EDGE_RL_CALL_READ      58
#define LBR_EDGE_RL_CALL_EMIT      59
#define LBR_EDGE_RL_CALL_RANGE_FROM 60
#define LBR_EDGE_RL_CALL_RANGE_TO  61
#define LBR_EDGE_RL_NO_INFO        62
#define LBR_EDGE_RL_CALL_RANGE_INFO 63
#define LBR_EDGE_RL_OK             64
#define LBR_EDGE_RANGE_END         65
#define LBR_EDGE_RANGE_CALL_READ   66
#define LBR_EDGE_RANGE_CALL_EMIT   67
#define LBR_EDGE_RANGE_LOOP        68
#define LBR_EDGE_BR_START          69
#define LBR_EDGE_BR_CALL_EMIT      70
#define LBR_EDGE_BR_OK             71
#define LBR_EDGE_RET_READ          80 /* the ret of g_msr_read */
#define LBR_EDGE_RET_WRITE         81 /* the ret of g_msr_write */
#define LBR_EDGE_RET_EMIT          82 /* the ret of g_emit */
#define LBR_EDGE_RET_RANGE         83 /* the ret of g_read_range */
#define LBR_EDGE_BSITE_END         96  /* + site (0..15): jz g_branches_end of branch site i */
#define LBR_EDGE_BSITE_JMP         112 /* + site (0..15): the taken jmp of branch site i */

#ifndef __ASSEMBLER__
#include <stdint.h>
/** Payload code bytes: [lbr_guest_start, lbr_guest_end). */
extern const uint8_t lbr_guest_start[];
extern const uint8_t lbr_guest_end[];
/** The same range as data Swift can import (incomplete arrays do not import). */
typedef struct lbr_guest_image { const uint8_t *start; uint64_t size; } lbr_guest_image_t;
extern const lbr_guest_image_t lbr_guest_image;
/** LBR_GUEST_OFF_* offsets, relative to lbr_guest_start. */
extern const uint32_t lbr_guest_offsets[LBR_GUEST_OFF_COUNT];
/** Exception stub offsets for vectors 0..31 (IDT gate targets). */
extern const uint32_t lbr_guest_vector_offsets[LBR_GUEST_NUM_VECTORS];
/** Branch sites of LBR_OP_BRANCHES: {from, to} offsets of each taken jmp, in execution order
 *  (the ring wraps from the last site to the first). */
extern const uint32_t lbr_guest_branch_sites[LBR_GUEST_NUM_BRANCH_SITES][2];
/** Control-flow edge rows {id, from, to, return point} (offsets relative to lbr_guest_start). */
typedef struct lbr_guest_edge { uint32_t id, from, to, retpt; } lbr_guest_edge_t;
extern const lbr_guest_edge_t lbr_guest_edges[];
/** The same table as data Swift can import: first row and row count. */
typedef struct lbr_guest_edge_table { const lbr_guest_edge_t *rows; uint64_t count; } lbr_guest_edge_table_t;
extern const lbr_guest_edge_table_t lbr_guest_edge_table;
#endif
#endif

import CLbrGuest
import CLbrShim
#if canImport(Glibc)
import Glibc
#endif

/// Direct long-mode entry: the VMM writes page tables, GDT and IDT into guest memory and sets
/// SREGS/REGS so the vCPU starts in 64-bit mode at the payload's entry (no real-mode boot code).
///
/// Layout (guest-physical = guest-virtual, CLbrGuest.h): PML4 0x1000 → PDPT 0x2000 → PD 0x3000
/// with 2 MiB pages identity-mapping all of guest RAM; GDT 0x4000 (null, 64-bit code 0x08,
/// data 0x10); IDT 0x5000 with interrupt gates for vectors 0–31 → the payload's exception stubs.
public enum LongMode {
    static let pageSize2M = 0x20_0000
    static let codeSelector: UInt16 = 0x08
    static let dataSelector: UInt16 = 0x10

    /// Writes page tables, GDT and IDT. `vectorTargets[i]` is the guest address of vector i's handler.
    // SAFETY: every store below goes through `UnsafeMutableRawBufferPointer.storeBytes`, which checks the offset
    // against `mem`'s bounds; the fixed addresses are inside the 2 MiB minimum guest memory.
    public static func writeTables(into mem: UnsafeMutableRawBufferPointer, vectorTargets: [UInt64]) {
        precondition(mem.count >= Int(LBR_GUEST_MIN_MEMORY) && mem.count % pageSize2M == 0)
        let present: UInt64 = 1, writable: UInt64 = 2, large: UInt64 = 0x80
        mem.storeBytes(of: UInt64(LBR_GUEST_PDPT_ADDR) | present | writable,
                       toByteOffset: Int(LBR_GUEST_PML4_ADDR), as: UInt64.self)
        mem.storeBytes(of: UInt64(LBR_GUEST_PD_ADDR) | present | writable,
                       toByteOffset: Int(LBR_GUEST_PDPT_ADDR), as: UInt64.self)
        let pages = min(mem.count / pageSize2M, 512)
        for i in 0..<pages {
            mem.storeBytes(of: UInt64(i * pageSize2M) | present | writable | large,
                           toByteOffset: Int(LBR_GUEST_PD_ADDR) + 8 * i, as: UInt64.self)
        }
        // GDT: null, code64 (L=1, P, DPL0, type exec/read), data (P, read/write, 4 GiB).
        let gdt: [UInt64] = [0, 0x00AF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF]
        for (i, d) in gdt.enumerated() {
            mem.storeBytes(of: d, toByteOffset: Int(LBR_GUEST_GDT_ADDR) + 8 * i, as: UInt64.self)
        }
        // IDT: 64-bit interrupt gates (type 0xE, present, DPL0), IST 0.
        for (v, target) in vectorTargets.prefix(256).enumerated() {
            let low = (target & 0xFFFF) | (UInt64(codeSelector) << 16) | (UInt64(0x8E) << 40)
                | (((target >> 16) & 0xFFFF) << 48)
            let high = target >> 32
            let off = Int(LBR_GUEST_IDT_ADDR) + 16 * v
            mem.storeBytes(of: low, toByteOffset: off, as: UInt64.self)
            mem.storeBytes(of: high, toByteOffset: off + 8, as: UInt64.self)
        }
    }

    /// Sets `sregs` for 64-bit mode with the tables above (keeps apic_base and the rest as given).
    public static func configure(_ s: inout kvm_sregs, idtEntries: Int = Int(LBR_GUEST_NUM_VECTORS)) {
        var code = kvm_segment()
        code.base = 0; code.limit = 0xFFFF_FFFF; code.selector = codeSelector
        code.type = 0xB; code.present = 1; code.dpl = 0; code.db = 0; code.s = 1; code.l = 1; code.g = 1
        var data = kvm_segment()
        data.base = 0; data.limit = 0xFFFF_FFFF; data.selector = dataSelector
        data.type = 0x3; data.present = 1; data.dpl = 0; data.db = 1; data.s = 1; data.l = 0; data.g = 1
        var tr = kvm_segment()
        tr.base = 0; tr.limit = 0x67; tr.selector = 0; tr.type = 0xB; tr.present = 1; tr.s = 0
        var ldt = kvm_segment()
        ldt.type = 0x2; ldt.present = 1; ldt.unusable = 1
        s.cs = code
        s.ds = data; s.es = data; s.fs = data; s.gs = data; s.ss = data
        s.tr = tr; s.ldt = ldt
        s.gdt.base = UInt64(LBR_GUEST_GDT_ADDR); s.gdt.limit = 3 * 8 - 1
        s.idt.base = UInt64(LBR_GUEST_IDT_ADDR); s.idt.limit = UInt16(16 * idtEntries - 1)
        s.cr3 = UInt64(LBR_GUEST_PML4_ADDR)
        s.cr4 = 1 << 5                                   // PAE
        s.cr0 = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 31) // PE MP ET NE WP PG
        s.efer = (1 << 8) | (1 << 10)                    // LME | LMA
    }

    /// Initial REGS: RIP at the payload entry, RSP at the stack top, RFLAGS reserved bit only.
    public static func initialRegs(rip: UInt64) -> kvm_regs {
        var r = kvm_regs()
        r.rip = rip
        r.rsp = UInt64(LBR_GUEST_STACK_TOP)
        r.rflags = 0x2
        return r
    }
}

import CLbrShim
import Glibc
import LbrCore
import LbrLinux
import SystemPackage
import Testing

/// `Vcpu.run()` decodes each exit once into a `VcpuExit`: a tiny real-mode program (16-bit code at 0x1000 in a
/// 64 KiB memory slot) makes KVM return port output of two sizes, a write to unbacked memory (MMIO) and HLT —
/// exits lbrprobe's own payload never makes — on the test's own thread.
@Suite("Vcpu exits decoded once (real KVM)", .enabled(if: kvmAvailable, "needs read-write /dev/kvm"))
struct VcpuExitTests {
    @Test func portOutputMmioWriteAndHltFromARealModeGuest() throws {
        let program: [UInt8] = [
            0xB0, 0x5A,             // mov al, 0x5a
            0xE6, 0x10,             // out 0x10, al
            0xB8, 0x34, 0x12,       // mov ax, 0x1234
            0xE7, 0x11,             // out 0x11, ax
            0xB8, 0x00, 0x20,       // mov ax, 0x2000
            0x8E, 0xD8,             // mov ds, ax
            0xC6, 0x06, 0x00, 0x00, 0x77, // mov byte [0], 0x77   (0x20000: outside the slot)
            0xF4,                   // hlt
        ]
        let guest = try RealModeGuest(program)
        let vcpu = guest.vcpu

        var exits: [VcpuExit] = []
        for _ in 0..<8 {
            let exit = try vcpu.run()
            exits.append(exit)
            if exit == .hlt { break }
        }
        #expect(exits == [
            .ioOut(port: 0x10, size: 1, count: 1, value: 0x5A),
            .ioOut(port: 0x11, size: 2, count: 1, value: 0x1234),
            .mmio(address: 0x20000, length: 1, isWrite: true),
            .hlt,
        ], "\(exits)")
    }

    @Test func immediateExitMakesTheNextRunReturnEintrBeforeEnteringTheGuest() throws {
        let guest = try RealModeGuest([0xF4]) // hlt
        let vcpu = guest.vcpu

        vcpu.exitRequester.requestImmediateExit()
        #expect(throws: LinuxError.self) { _ = try vcpu.run() }
        do { _ = try vcpu.run() } catch { #expect(error.errno == .interrupted, "\(error)") }
        vcpu.clearImmediateExit()
        #expect(try vcpu.run() == .hlt)
    }
}

/// A one-vCPU VM in real mode: `program` at 0x1000 in a 64 KiB slot at guest-physical 0, CS = DS = 0, IP = 0x1000.
/// Used on the creating thread only.
final class RealModeGuest {
    // Released in declaration order: the vCPU and VM fds before the guest memory.
    let vcpu: Vcpu
    let vm: Vm
    let kvm: Kvm
    let memory: GuestMemory

    init(_ program: [UInt8]) throws {
        kvm = try Kvm()
        vm = try Vm(kvm: kvm)
        memory = try GuestMemory(size: 64 << 10, nearCpu: 0)
        memory.bytes(at: 0x1000, count: program.count).copyBytes(from: program)
        try vm.setUserMemoryRegion(slot: 0, guestPhysical: 0, size: memory.size, host: memory.base)
        vcpu = try Vcpu(vm: vm, id: 0, runSize: try kvm.vcpuMmapSize())
        var sregs = try vcpu.getSregs()
        sregs.cs.base = 0; sregs.cs.selector = 0
        sregs.ds.base = 0; sregs.ds.selector = 0
        try vcpu.setSregs(sregs)
        var regs = kvm_regs()
        regs.rip = 0x1000; regs.rflags = 0x2
        try vcpu.setRegs(regs)
    }
}

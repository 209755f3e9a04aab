// libguestfs's tools (guestfish, virt-sysprep) open images inside a small VM of their own, never on
// this host. That VM uses KVM whenever /dev/kvm opens, which is not proof that KVM works (a kvm_pvm
// /dev/kvm without vmx/svm crawls): it follows Berth's own choice of accelerator instead.
export function libguestfsEnv(kvm: boolean): NodeJS.ProcessEnv {
  return { ...process.env, LIBGUESTFS_BACKEND: 'direct', ...(kvm ? {} : { LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' }) }
}

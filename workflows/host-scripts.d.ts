// Host scripts are imported as their text: bundled into the workflow code by webpack (asset/source),
// loaded by scripts/host-script-hooks.ts where Node imports a procedure module directly.
declare module '*.sh' {
  const text: string;
  export default text;
}
declare module '*.py' {
  const text: string;
  export default text;
}

// The quoting lives with the engine (workflows/engine/shell-quote.ts), because suggested commands in
// current details are quoted by workflow code too; the ssh layer uses the very same functions.
export * from '../../workflows/engine/shell-quote.js';

//! Small, safe-looking helpers over the LLVM C API for the IR surgery the pass does
//! (walking blocks and uses, replacing operands, building calls), which inkwell does not
//! expose at this granularity. All raw pointers come from a live module owned by the
//! caller; every function here only reads or edits that module.

use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMOpcode;
use std::ffi::{CStr, CString};

pub type Value = LLVMValueRef;
pub type Block = LLVMBasicBlockRef;

extern "C" {
    fn pyomp_extract_region(
        blocks: *mut LLVMBasicBlockRef,
        count: u32,
        alloc_block: LLVMBasicBlockRef,
        suffix: *const std::os::raw::c_char,
    ) -> LLVMValueRef;
    fn pyomp_split_block_before(
        inst: LLVMValueRef,
        name: *const std::os::raw::c_char,
    ) -> LLVMBasicBlockRef;
}

pub fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).expect("NULs removed")
}

pub fn name_of(v: Value) -> String {
    unsafe {
        let mut len = 0usize;
        let p = LLVMGetValueName2(v, &mut len);
        if p.is_null() {
            return String::new();
        }
        String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
    }
}

pub fn block_name(b: Block) -> String {
    unsafe { c_name(LLVMGetBasicBlockName(b)) }
}

pub fn functions(module: LLVMModuleRef) -> Vec<Value> {
    let mut out = Vec::new();
    unsafe {
        let mut f = LLVMGetFirstFunction(module);
        while !f.is_null() {
            out.push(f);
            f = LLVMGetNextFunction(f);
        }
    }
    out
}

pub fn blocks(func: Value) -> Vec<Block> {
    let mut out = Vec::new();
    unsafe {
        let mut b = LLVMGetFirstBasicBlock(func);
        while !b.is_null() {
            out.push(b);
            b = LLVMGetNextBasicBlock(b);
        }
    }
    out
}

pub fn instructions(block: Block) -> Vec<Value> {
    let mut out = Vec::new();
    unsafe {
        let mut i = LLVMGetFirstInstruction(block);
        while !i.is_null() {
            out.push(i);
            i = LLVMGetNextInstruction(i);
        }
    }
    out
}

pub fn opcode(inst: Value) -> LLVMOpcode {
    unsafe { LLVMGetInstructionOpcode(inst) }
}

pub fn is_instruction(v: Value) -> bool {
    unsafe { !LLVMIsAInstruction(v).is_null() }
}

pub fn parent_block(inst: Value) -> Block {
    unsafe { LLVMGetInstructionParent(inst) }
}

pub fn parent_function(block: Block) -> Value {
    unsafe { LLVMGetBasicBlockParent(block) }
}

pub fn terminator(block: Block) -> Option<Value> {
    let t = unsafe { LLVMGetBasicBlockTerminator(block) };
    (!t.is_null()).then_some(t)
}

pub fn successors(block: Block) -> Vec<Block> {
    let Some(t) = terminator(block) else {
        return vec![];
    };
    unsafe {
        (0..LLVMGetNumSuccessors(t))
            .map(|i| LLVMGetSuccessor(t, i))
            .collect()
    }
}

/// The blocks reachable from `start` without passing `stop`, `start` first.
pub fn reachable_without(start: Block, stop: Block) -> Vec<Block> {
    let mut order = vec![start];
    let mut seen: std::collections::HashSet<Block> = order.iter().copied().collect();
    let mut i = 0;
    while i < order.len() {
        for s in successors(order[i]) {
            if s != stop && seen.insert(s) {
                order.push(s);
            }
        }
        i += 1;
    }
    order
}

pub fn operands(inst: Value) -> Vec<Value> {
    unsafe {
        (0..LLVMGetNumOperands(inst) as u32)
            .map(|i| LLVMGetOperand(inst, i))
            .collect()
    }
}

/// Instructions using `v` (each once, even if it uses `v` several times).
pub fn users(v: Value) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    unsafe {
        let mut u = LLVMGetFirstUse(v);
        while !u.is_null() {
            let user = LLVMGetUser(u);
            if !out.contains(&user) {
                out.push(user);
            }
            u = LLVMGetNextUse(u);
        }
    }
    out
}

/// Values computed in `inside` and used outside it go through memory instead (Numba keeps
/// a variable used only in one of its blocks in a register; a construct that only some
/// threads run, or that the front end cut out of such a block, must not leave its users
/// with a value that does not dominate them). The slot is an alloca at the start of
/// `slot_block`, zeroed there; each outside use loads it just before itself (phis: at the
/// end of the incoming block).
pub fn demote_escaping(inside: &[Block], slot_block: Block) {
    let ctx = unsafe { LLVMGetTypeContext(LLVMTypeOf(parent_function(slot_block))) };
    let b = Builder::new(ctx);
    for &block in inside {
        for inst in instructions(block) {
            let outside: Vec<Value> = users(inst)
                .into_iter()
                .filter(|&u| is_instruction(u) && !inside.contains(&parent_block(u)))
                .collect();
            if outside.is_empty() || opcode(inst) == LLVMOpcode::LLVMAlloca {
                continue;
            }
            unsafe {
                let ty = LLVMTypeOf(inst);
                b.at_start(slot_block);
                let slot = b.alloca(ty, "omp.escaping");
                b.store(LLVMConstNull(ty), slot);
                let after = LLVMGetNextInstruction(inst);
                let at = if opcode(inst) == LLVMOpcode::LLVMPHI {
                    instructions(block)
                        .into_iter()
                        .find(|&i| opcode(i) != LLVMOpcode::LLVMPHI)
                        .expect("a block ends in a terminator")
                } else {
                    after
                };
                b.before(at);
                b.store(inst, slot);
                for user in outside {
                    if opcode(user) == LLVMOpcode::LLVMPHI {
                        let n = LLVMCountIncoming(user);
                        for i in 0..n {
                            if LLVMGetIncomingValue(user, i) == inst {
                                let from = LLVMGetIncomingBlock(user, i);
                                b.before(terminator(from).expect("incoming block ends"));
                                let v = b.load(ty, slot, "omp.escaping.v");
                                LLVMSetOperand(user, i, v);
                            }
                        }
                    } else {
                        b.before(user);
                        let v = b.load(ty, slot, "omp.escaping.v");
                        replace_operand(user, inst, v);
                    }
                }
            }
        }
    }
}

/// i1 from a clause value: a Numba boolean as it is, any other integer compared with 0.
pub fn truth(b: &Builder, v: Value) -> Value {
    unsafe {
        let ty = LLVMTypeOf(v);
        if LLVMGetTypeKind(ty) == llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind
            && LLVMGetIntTypeWidth(ty) == 1
        {
            return v;
        }
        LLVMBuildICmp(
            b.raw,
            llvm_sys::LLVMIntPredicate::LLVMIntNE,
            v,
            LLVMConstNull(ty),
            cstr("omp.truth").as_ptr(),
        )
    }
}

/// Stores `values` into the fields of struct `ty` at `at` (the argument blocks of forks
/// and tasks).
pub fn store_fields(b: &Builder, ty: LLVMTypeRef, at: Value, values: &[Value]) {
    for (i, &v) in values.iter().enumerate() {
        let p =
            unsafe { LLVMBuildStructGEP2(b.raw, ty, at, i as u32, cstr("omp.arg.addr").as_ptr()) };
        b.store(v, p);
    }
}

/// Loads every field of struct `ty` at `at` (what `store_fields` stored).
pub fn load_fields(b: &Builder, ty: LLVMTypeRef, at: Value) -> Vec<Value> {
    unsafe {
        (0..LLVMCountStructElementTypes(ty))
            .map(|i| {
                let p = LLVMBuildStructGEP2(b.raw, ty, at, i, cstr("omp.arg").as_ptr());
                b.load(LLVMStructGetTypeAtIndex(ty, i), p, "omp.arg")
            })
            .collect()
    }
}

/// Replaces every operand `old` of `user` with `new`.
pub fn replace_operand(user: Value, old: Value, new: Value) {
    unsafe {
        for i in 0..LLVMGetNumOperands(user) as u32 {
            if LLVMGetOperand(user, i) == old {
                LLVMSetOperand(user, i, new);
            }
        }
    }
}

/// Replaces the uses of `old` by instructions in `blocks` (only there) with `new`.
pub fn replace_uses_in(old: Value, new: Value, in_blocks: &[Block]) {
    for user in users(old) {
        if is_instruction(user) && in_blocks.contains(&parent_block(user)) {
            replace_operand(user, old, new);
        }
    }
}

pub fn type_of(v: Value) -> LLVMTypeRef {
    unsafe { LLVMTypeOf(v) }
}

pub fn allocated_type(alloca: Value) -> LLVMTypeRef {
    unsafe { LLVMGetAllocatedType(alloca) }
}

pub fn called_function(call: Value) -> Option<Value> {
    if opcode(call) != LLVMOpcode::LLVMCall {
        return None;
    }
    let f = unsafe { LLVMGetCalledValue(call) };
    (!f.is_null() && unsafe { !LLVMIsAFunction(f).is_null() }).then_some(f)
}

pub fn called_name(call: Value) -> Option<String> {
    called_function(call).map(name_of)
}

/// The call's arguments (operands without the callee).
pub fn call_args(call: Value) -> Vec<Value> {
    unsafe {
        (0..LLVMGetNumArgOperands(call))
            .map(|i| LLVMGetOperand(call, i))
            .collect()
    }
}

/// The bytes of a constant string global (`@g = constant [N x i8] c"..."`), NUL stripped.
pub fn global_string(v: Value) -> Option<String> {
    unsafe {
        let mut g = v;
        // Numba's text casts the global (`bitcast [N x i8]* @g to i8*`), as a constant
        // expression or an instruction; with opaque pointers either is a no-op to look past.
        while !LLVMIsAConstantExpr(g).is_null() || !LLVMIsABitCastInst(g).is_null() {
            g = LLVMGetOperand(g, 0);
        }
        if LLVMIsAGlobalVariable(g).is_null() {
            return None;
        }
        let init = LLVMGetInitializer(g);
        // LLVMGetAsString assumes a ConstantDataSequential: `c"\00"` (all zeros) is a
        // zeroinitializer and other initializers are other classes.
        if init.is_null()
            || LLVMIsAConstantDataSequential(init).is_null()
            || LLVMIsConstantString(init) == 0
        {
            return None;
        }
        let mut len = 0usize;
        let p = LLVMGetAsString(init, &mut len);
        if p.is_null() {
            return None;
        }
        let bytes = std::slice::from_raw_parts(p as *const u8, len);
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

pub fn split_before(inst: Value, name: &str) -> Block {
    let n = cstr(name);
    unsafe { pyomp_split_block_before(inst, n.as_ptr()) }
}

/// CodeExtractor over `blocks` (entry first); the struct of inputs goes in `alloc_block`.
pub fn extract_region(blocks: &[Block], alloc_block: Block, suffix: &str) -> Option<Value> {
    let mut bbs = blocks.to_vec();
    let s = cstr(suffix);
    let f = unsafe {
        pyomp_extract_region(bbs.as_mut_ptr(), bbs.len() as u32, alloc_block, s.as_ptr())
    };
    (!f.is_null()).then_some(f)
}

/// Splits off `block`'s terminator into a continuation and makes `block` end in
/// `br cond, then, cont` with a new `then` block (ending in `br cont`), returned.
/// `cond` is built at the end of `block` by the closure.
pub fn if_then_at_end(
    ctx: LLVMContextRef,
    block: Block,
    cond: impl FnOnce(&Builder) -> Value,
) -> Block {
    let term = terminator(block).expect("block ends in a terminator");
    let cont = split_before(term, "omp.cont");
    let old_br = terminator(block).expect("split leaves a branch");
    let b = Builder::new(ctx);
    b.before(old_br);
    let c = cond(&b);
    unsafe {
        let then =
            LLVMAppendBasicBlockInContext(ctx, parent_function(block), cstr("omp.then").as_ptr());
        b.cond_br(c, then, cont);
        erase(old_br);
        b.at_end(then);
        b.br(cont);
        then
    }
}

/// Moves instruction `inst` (keeping its name) to just before `at`.
pub fn move_before(inst: Value, at: Value) {
    unsafe {
        let name = cstr(&name_of(inst));
        LLVMInstructionRemoveFromParent(inst);
        let b = Builder::new(LLVMGetTypeContext(LLVMTypeOf(inst)));
        b.before(at);
        LLVMInsertIntoBuilderWithName(b.raw, inst, name.as_ptr());
    }
}

pub fn erase(inst: Value) {
    unsafe { LLVMInstructionEraseFromParent(inst) }
}

/// Erases `inst` and then, recursively, the operand instructions it leaves without users
/// that compute nothing else (the loads and tuple packing that fed a marker call).
pub fn erase_with_dead_operands(inst: Value) {
    let mut ops = operands(inst);
    ops.sort_unstable();
    ops.dedup();
    erase(inst);
    for op in ops {
        let pure = is_instruction(op)
            && matches!(
                opcode(op),
                LLVMOpcode::LLVMLoad
                    | LLVMOpcode::LLVMExtractValue
                    | LLVMOpcode::LLVMInsertValue
                    | LLVMOpcode::LLVMBitCast
            );
        if pure && users(op).is_empty() {
            erase_with_dead_operands(op);
        }
    }
}

pub fn c_name(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// An IR builder positioned by the caller; disposed on drop.
pub struct Builder {
    pub raw: LLVMBuilderRef,
}

impl Builder {
    pub fn new(ctx: LLVMContextRef) -> Self {
        Builder {
            raw: unsafe { LLVMCreateBuilderInContext(ctx) },
        }
    }
    pub fn before(&self, inst: Value) -> &Self {
        unsafe { LLVMPositionBuilderBefore(self.raw, inst) };
        self
    }
    pub fn at_end(&self, block: Block) -> &Self {
        unsafe { LLVMPositionBuilderAtEnd(self.raw, block) };
        self
    }
    /// Before the first non-PHI instruction of `block` (or at its end if empty).
    pub fn at_start(&self, block: Block) -> &Self {
        let first = instructions(block)
            .into_iter()
            .find(|&i| opcode(i) != LLVMOpcode::LLVMPHI);
        match first {
            Some(i) => self.before(i),
            None => self.at_end(block),
        }
    }
    pub fn call(&self, fty: LLVMTypeRef, f: Value, args: &[Value], name: &str) -> Value {
        let n = cstr(name);
        let mut a = args.to_vec();
        unsafe { LLVMBuildCall2(self.raw, fty, f, a.as_mut_ptr(), a.len() as u32, n.as_ptr()) }
    }
    pub fn load(&self, ty: LLVMTypeRef, ptr: Value, name: &str) -> Value {
        let n = cstr(name);
        unsafe { LLVMBuildLoad2(self.raw, ty, ptr, n.as_ptr()) }
    }
    pub fn store(&self, v: Value, ptr: Value) -> Value {
        unsafe { LLVMBuildStore(self.raw, v, ptr) }
    }
    pub fn alloca(&self, ty: LLVMTypeRef, name: &str) -> Value {
        let n = cstr(name);
        unsafe { LLVMBuildAlloca(self.raw, ty, n.as_ptr()) }
    }
    /// An alloca of `ty` with the element count and alignment of `original`: Numba's
    /// `alloca_once(..., size=ndim)` holds an array's shape and strides (one element per
    /// dimension), so a one-element copy would let N-D code write past it.
    pub fn alloca_like(&self, original: Value, ty: LLVMTypeRef, name: &str) -> Value {
        let n = cstr(name);
        unsafe {
            let count = LLVMGetOperand(original, 0);
            let copy =
                if LLVMIsAConstantInt(count).is_null() || LLVMConstIntGetZExtValue(count) != 1 {
                    LLVMBuildArrayAlloca(self.raw, ty, count, n.as_ptr())
                } else {
                    LLVMBuildAlloca(self.raw, ty, n.as_ptr())
                };
            LLVMSetAlignment(copy, LLVMGetAlignment(original));
            copy
        }
    }
    pub fn br(&self, dest: Block) -> Value {
        unsafe { LLVMBuildBr(self.raw, dest) }
    }
    pub fn cond_br(&self, c: Value, t: Block, f: Block) -> Value {
        unsafe { LLVMBuildCondBr(self.raw, c, t, f) }
    }
    pub fn ret(&self, v: Value) -> Value {
        unsafe { LLVMBuildRet(self.raw, v) }
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        unsafe { LLVMDisposeBuilder(self.raw) }
    }
}

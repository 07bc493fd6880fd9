//! One walk over a module's float tensors with their reference keys. Every reader or writer by
//! key (export, load, freezing, gradients, optimizer groups) implements [`KeyedVisitor`] or
//! [`KeyedMapper`]; the path tracking and the key mapping happen here only. The key string is
//! built only when a visitor reads it ([`Key`]): a walk that needs it for a few tensors (the
//! optimizer after its first step, gradients of the trainable tensors) builds no others.

use std::cell::OnceCell;
use std::ops::Deref;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

use crate::naming::NameContext;

/// The reference key of the tensor being visited, mapped from its module path on first use.
pub struct Key<'a> {
    names: &'a NameContext,
    prefix: &'a str,
    path: &'a [String],
    key: OnceCell<String>,
}

impl Key<'_> {
    /// The key (`prefix` + reference name).
    pub fn as_str(&self) -> &str {
        self.key
            .get_or_init(|| format!("{}{}", self.prefix, self.names.torch_key(self.path)))
    }
}

impl Deref for Key<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads every float tensor with its reference key.
pub trait KeyedVisitor {
    /// Called once per float tensor (parameters and BatchNorm buffers), in module order.
    fn visit<const D: usize>(&mut self, key: &Key<'_>, param: &Param<Tensor<D>>);
}

/// Rewrites every float tensor knowing its reference key.
pub trait KeyedMapper {
    /// Called once per float tensor (parameters and BatchNorm buffers), in module order.
    fn map<const D: usize>(&mut self, key: &Key<'_>, param: Param<Tensor<D>>) -> Param<Tensor<D>>;
}

struct Walk<'a, V> {
    names: &'a NameContext,
    prefix: &'a str,
    path: Vec<String>,
    inner: &'a mut V,
}

impl<V: KeyedVisitor> ModuleVisitor for Walk<'_, V> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Walk {
            names,
            prefix,
            path,
            inner,
        } = self;
        let key = Key {
            names,
            prefix,
            path,
            key: OnceCell::new(),
        };
        inner.visit(&key, param);
    }
}

impl<V: KeyedMapper> ModuleMapper for Walk<'_, V> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Walk {
            names,
            prefix,
            path,
            inner,
        } = self;
        let key = Key {
            names,
            prefix,
            path,
            key: OnceCell::new(),
        };
        inner.map(&key, param)
    }
}

/// Visit `module`'s float tensors with their reference keys (`prefix` prepended, e.g.
/// `"backbone."` for the backbone alone).
pub fn visit_keyed<M: Module, V: KeyedVisitor>(
    module: &M,
    names: &NameContext,
    prefix: &str,
    visitor: &mut V,
) {
    module.visit(&mut Walk {
        names,
        prefix,
        path: vec![],
        inner: visitor,
    });
}

/// Map `module`'s float tensors knowing their reference keys (`prefix` as in [`visit_keyed`]).
pub fn map_keyed<M: Module, V: KeyedMapper>(
    module: M,
    names: &NameContext,
    prefix: &str,
    mapper: &mut V,
) -> M {
    module.map(&mut Walk {
        names,
        prefix,
        path: vec![],
        inner: mapper,
    })
}

//! One walk over a module's float tensors with their reference keys. Every reader or writer by
//! key (export, load, freezing, gradients, optimizer groups) implements [`KeyedVisitor`] or
//! [`KeyedMapper`]; the path tracking and the key mapping happen here only.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

use crate::naming::NameContext;

/// Reads every float tensor with its reference key.
pub trait KeyedVisitor {
    /// Called once per float tensor (parameters and BatchNorm buffers), in module order.
    fn visit<const D: usize>(&mut self, key: &str, param: &Param<Tensor<D>>);
}

/// Rewrites every float tensor knowing its reference key.
pub trait KeyedMapper {
    /// Called once per float tensor (parameters and BatchNorm buffers), in module order.
    fn map<const D: usize>(&mut self, key: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>>;
}

struct Walk<'a, V> {
    names: &'a NameContext,
    prefix: &'a str,
    path: Vec<String>,
    inner: &'a mut V,
}

impl<V> Walk<'_, V> {
    fn key(&self) -> String {
        format!("{}{}", self.prefix, self.names.torch_key(&self.path))
    }
}

impl<V: KeyedVisitor> ModuleVisitor for Walk<'_, V> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let key = self.key();
        self.inner.visit(&key, param);
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
        let key = self.key();
        self.inner.map(&key, param)
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

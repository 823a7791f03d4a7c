//! A byte-wise radix tree: the keys that are prefixes of a probe, found in one walk.

/// A radix tree mapping byte strings to values; [`walk`](Radix::walk) visits the value of every
/// stored key that is a prefix of the probe, shortest first.
#[derive(Debug)]
pub(crate) struct Radix<V> {
    root: Node<V>,
}

#[derive(Debug)]
struct Node<V> {
    label: Box<[u8]>,
    value: V,
    /// Sorted by the first byte of their label, which is unique among siblings.
    children: Vec<Node<V>>,
}

impl<V: Default> Default for Radix<V> {
    fn default() -> Self {
        Self {
            root: Node::new(Box::default()),
        }
    }
}

impl<V: Default> Node<V> {
    fn new(label: Box<[u8]>) -> Self {
        Self {
            label,
            value: V::default(),
            children: Vec::new(),
        }
    }

    /// The value for `key`, relative to the end of this node's label, created if absent.
    fn entry(&mut self, key: &[u8]) -> &mut V {
        let Some(&first) = key.first() else {
            return &mut self.value;
        };
        let at = match self.children.binary_search_by_key(&first, |c| c.label[0]) {
            Ok(at) => at,
            Err(at) => {
                self.children.insert(at, Node::new(key.into()));
                return &mut self.children[at].value;
            }
        };
        let child = &mut self.children[at];
        let common = child.label.iter().zip(key).take_while(|(a, b)| a == b).count();
        if common < child.label.len() {
            // Split the child: a new node holds the shared part, the old child keeps the rest.
            let mut upper = Node::new(child.label[..common].into());
            let mut lower = std::mem::replace(child, Node::new(Box::default()));
            lower.label = lower.label[common..].into();
            upper.children.push(lower);
            *child = upper;
        }
        child.entry(&key[common..])
    }
}

impl<V: Default> Radix<V> {
    /// The value stored under `key`, created with `V::default()` if absent.
    pub(crate) fn entry(&mut self, key: &[u8]) -> &mut V {
        self.root.entry(key)
    }
}

impl<V> Radix<V> {
    /// Calls `visit(value, whole)` for each stored key that is a prefix of `probe`, shortest first;
    /// `whole` is true for the key equal to `probe`. The root (empty key) is always visited.
    #[inline]
    pub(crate) fn walk<'s>(&'s self, probe: &[u8], mut visit: impl FnMut(&'s V, bool)) {
        let mut node = &self.root;
        let mut rest = probe;
        loop {
            visit(&node.value, rest.is_empty());
            let Some(&first) = rest.first() else { return };
            let Ok(at) = node.children.binary_search_by_key(&first, |c| c.label[0]) else {
                return;
            };
            node = &node.children[at];
            match rest.strip_prefix(&*node.label) {
                Some(tail) => rest = tail,
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(tree: &Radix<Vec<&'static str>>, probe: &str) -> Vec<(&'static str, bool)> {
        let mut seen = Vec::new();
        tree.walk(probe.as_bytes(), |v, whole| seen.extend(v.iter().map(|s| (*s, whole))));
        seen
    }

    #[test]
    fn finds_every_stored_prefix() {
        let mut tree = Radix::<Vec<&'static str>>::default();
        for key in ["/api", "/api/v1", "/apix", "/", "/b", ""] {
            tree.entry(key.as_bytes()).push(key);
        }
        assert_eq!(
            walk(&tree, "/api/v1/users"),
            [("", false), ("/", false), ("/api", false), ("/api/v1", false)]
        );
        assert_eq!(
            walk(&tree, "/apix"),
            [("", false), ("/", false), ("/api", false), ("/apix", true)]
        );
        assert_eq!(walk(&tree, "/ap"), [("", false), ("/", false)]);
        assert_eq!(walk(&tree, ""), [("", true)]);
    }
}

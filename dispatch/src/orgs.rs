//! The organisation tree: the vendor at the root, partners and sub-partners below, any depth.
//!
//! Built once from flat rows; subtree membership is O(1) through Euler-tour intervals (an organisation's
//! descendants are exactly those entered after it and left before it).

use std::collections::HashMap;

use crate::model::OrgId;

#[cfg(test)]
mod tests;

/// One organisation as dispatch needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// The organisation.
    pub id: OrgId,
    /// Its parent; `None` for the vendor (the root).
    pub parent_id: Option<OrgId>,
    /// When set, offers passing through this organisation stop here for its dispatcher.
    pub manual_routing: bool,
}

/// Why a set of organisations does not form one tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgTreeError {
    /// No organisations at all.
    #[error("the organisation tree is empty")]
    Empty,
    /// No organisation without a parent.
    #[error("the organisation tree has no root")]
    NoRoot,
    /// More than one organisation without a parent.
    #[error("the organisation tree has two roots: {0} and {1}")]
    MultipleRoots(OrgId, OrgId),
    /// The same id twice.
    #[error("organisation {0} appears twice")]
    Duplicate(OrgId),
    /// A parent that is not in the set.
    #[error("organisation {org}'s parent {parent} is unknown")]
    UnknownParent {
        /// The organisation whose parent is missing.
        org: OrgId,
        /// The missing parent.
        parent: OrgId,
    },
    /// Organisations whose parent chain loops instead of reaching the root.
    #[error("organisation {0} is part of a parent cycle")]
    Cycle(OrgId),
}

/// The organisation tree with O(1) ancestor tests.
#[derive(Debug, Clone)]
pub struct OrgTree {
    nodes: Vec<Node>,
    index: HashMap<OrgId, usize>,
    root: usize,
}

#[derive(Debug, Clone)]
struct Node {
    org: Org,
    parent: Option<usize>,
    children: Vec<usize>,
    depth: u32,
    enter: u32,
    exit: u32,
}

impl OrgTree {
    /// Builds the tree, checking there is exactly one root, no unknown parent and no cycle; children keep input order.
    pub fn build(orgs: impl IntoIterator<Item = Org>) -> Result<OrgTree, OrgTreeError> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut index = HashMap::new();
        for org in orgs {
            if index.insert(org.id, nodes.len()).is_some() {
                return Err(OrgTreeError::Duplicate(org.id));
            }
            nodes.push(Node { org, parent: None, children: Vec::new(), depth: 0, enter: 0, exit: 0 });
        }
        if nodes.is_empty() {
            return Err(OrgTreeError::Empty);
        }
        let mut root = None;
        for i in 0..nodes.len() {
            match nodes[i].org.parent_id {
                None => match root {
                    None => root = Some(i),
                    Some(r) => return Err(OrgTreeError::MultipleRoots(nodes[r].org.id, nodes[i].org.id)),
                },
                Some(parent) => {
                    let p = *index.get(&parent).ok_or(OrgTreeError::UnknownParent { org: nodes[i].org.id, parent })?;
                    nodes[i].parent = Some(p);
                    nodes[p].children.push(i);
                }
            }
        }
        let root = root.ok_or(OrgTreeError::NoRoot)?;

        // Iterative DFS numbering enter/exit times; nodes not reached hang off a cycle.
        let mut clock = 0u32;
        let mut visited = 0usize;
        let mut stack = vec![(root, 0usize)];
        nodes[root].enter = clock;
        while let Some(&mut (n, ref mut next_child)) = stack.last_mut() {
            if let Some(&c) = nodes[n].children.get(*next_child) {
                *next_child += 1;
                clock += 1;
                nodes[c].enter = clock;
                nodes[c].depth = nodes[n].depth + 1;
                stack.push((c, 0));
            } else {
                nodes[n].exit = clock;
                visited += 1;
                stack.pop();
            }
        }
        if visited < nodes.len() {
            let stray = nodes.iter().find(|n| n.parent.is_some() && n.enter == 0).map(|n| n.org.id);
            return Err(OrgTreeError::Cycle(stray.unwrap_or(nodes[root].org.id)));
        }
        Ok(OrgTree { nodes, index, root })
    }

    /// The vendor.
    pub fn root(&self) -> OrgId {
        self.nodes[self.root].org.id
    }

    /// How many organisations the tree holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a tree has a root.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// True when the organisation is in the tree.
    pub fn contains(&self, id: OrgId) -> bool {
        self.index.contains_key(&id)
    }

    /// The organisation's row.
    pub fn get(&self, id: OrgId) -> Option<&Org> {
        self.node(id).map(|n| &n.org)
    }

    /// Its parent; `None` for the root and for unknown ids.
    pub fn parent(&self, id: OrgId) -> Option<OrgId> {
        self.node(id)?.parent.map(|p| self.nodes[p].org.id)
    }

    /// Its depth: the vendor 0, regional partners 1, …; `None` for unknown ids.
    pub fn depth(&self, id: OrgId) -> Option<u32> {
        self.node(id).map(|n| n.depth)
    }

    /// True when the organisation routes offers manually (false for unknown ids).
    pub fn manual_routing(&self, id: OrgId) -> bool {
        self.node(id).is_some_and(|n| n.org.manual_routing)
    }

    /// Its children in input order (nothing for unknown ids).
    pub fn children(&self, id: OrgId) -> impl Iterator<Item = OrgId> + '_ {
        self.node(id).into_iter().flat_map(|n| n.children.iter().map(|&c| self.nodes[c].org.id))
    }

    /// Its ancestors from the parent up to the root, itself excluded (nothing for unknown ids).
    pub fn ancestors(&self, id: OrgId) -> impl Iterator<Item = OrgId> + '_ {
        let mut at = self.index.get(&id).and_then(|&i| self.nodes[i].parent);
        std::iter::from_fn(move || {
            let i = at?;
            at = self.nodes[i].parent;
            Some(self.nodes[i].org.id)
        })
    }

    /// True when `id` is `ancestor` or lies in its subtree; false when either is unknown. O(1).
    pub fn is_descendant_or_self(&self, id: OrgId, ancestor: OrgId) -> bool {
        match (self.node(id), self.node(ancestor)) {
            (Some(n), Some(a)) => a.enter <= n.enter && n.enter <= a.exit,
            _ => false,
        }
    }

    /// The organisations from `ancestor` down to `descendant`, both included; `None` unless one is below the other.
    pub fn path_down(&self, ancestor: OrgId, descendant: OrgId) -> Option<Vec<OrgId>> {
        if !self.is_descendant_or_self(descendant, ancestor) {
            return None;
        }
        let mut path = vec![descendant];
        path.extend(self.ancestors(descendant).take_while(|&a| self.is_descendant_or_self(a, ancestor)));
        path.reverse();
        Some(path)
    }

    /// The deepest organisation that is an ancestor-or-self of both; `None` when either is unknown.
    pub fn lowest_common_ancestor(&self, a: OrgId, b: OrgId) -> Option<OrgId> {
        // Unknown ids are nobody's descendant, so the search finds nothing for them.
        std::iter::once(a).chain(self.ancestors(a)).find(|&x| self.is_descendant_or_self(b, x))
    }

    fn node(&self, id: OrgId) -> Option<&Node> {
        self.index.get(&id).map(|&i| &self.nodes[i])
    }
}

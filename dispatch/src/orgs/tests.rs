#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn o(id: u128) -> OrgId {
    OrgId(id)
}

fn org(id: u128, parent: Option<u128>) -> Org {
    Org { id: o(id), parent_id: parent.map(o), manual_routing: false }
}

/// vendor 1 → partners 10, 20 → 11 (under 10) → 111 (under 11) → 1111 (under 111): depth 4.
pub(crate) fn depth_four_tree() -> OrgTree {
    OrgTree::build([
        org(1, None),
        org(10, Some(1)),
        org(20, Some(1)),
        org(11, Some(10)),
        org(12, Some(10)),
        org(111, Some(11)),
        org(1111, Some(111)),
    ])
    .unwrap()
}

#[test]
fn a_depth_four_tree_answers_ancestry_questions() {
    let tree = depth_four_tree();
    assert_eq!(tree.root(), o(1));
    assert_eq!(tree.depth(o(1111)), Some(4));
    assert_eq!(tree.ancestors(o(1111)).collect::<Vec<_>>(), vec![o(111), o(11), o(10), o(1)]);
    assert_eq!(tree.ancestors(o(1)).count(), 0);
    assert_eq!(tree.children(o(10)).collect::<Vec<_>>(), vec![o(11), o(12)]);
    assert!(tree.is_descendant_or_self(o(1111), o(10)));
    assert!(tree.is_descendant_or_self(o(1111), o(1)));
    assert!(tree.is_descendant_or_self(o(11), o(11)));
    assert!(!tree.is_descendant_or_self(o(10), o(11)));
    assert!(!tree.is_descendant_or_self(o(12), o(11)));
    assert!(!tree.is_descendant_or_self(o(20), o(10)));
    assert!(!tree.is_descendant_or_self(o(999), o(1)));
    assert_eq!(tree.path_down(o(10), o(1111)), Some(vec![o(10), o(11), o(111), o(1111)]));
    assert_eq!(tree.path_down(o(20), o(1111)), None);
    assert_eq!(tree.lowest_common_ancestor(o(1111), o(12)), Some(o(10)));
    assert_eq!(tree.lowest_common_ancestor(o(1111), o(20)), Some(o(1)));
    assert_eq!(tree.lowest_common_ancestor(o(111), o(1111)), Some(o(111)));
    assert_eq!(tree.parent(o(11)), Some(o(10)));
    assert_eq!(tree.parent(o(1)), None);
}

#[test]
fn broken_trees_are_refused_with_the_reason() {
    assert_eq!(OrgTree::build([]).unwrap_err(), OrgTreeError::Empty);
    assert_eq!(OrgTree::build([org(1, None), org(2, None)]).unwrap_err(), OrgTreeError::MultipleRoots(o(1), o(2)));
    assert_eq!(
        OrgTree::build([org(1, None), org(2, Some(3))]).unwrap_err(),
        OrgTreeError::UnknownParent { org: o(2), parent: o(3) }
    );
    assert_eq!(OrgTree::build([org(1, None), org(1, None)]).unwrap_err(), OrgTreeError::Duplicate(o(1)));
    assert!(matches!(
        OrgTree::build([org(1, None), org(2, Some(3)), org(3, Some(2))]).unwrap_err(),
        OrgTreeError::Cycle(_)
    ));
    assert_eq!(OrgTree::build([org(2, Some(3)), org(3, Some(2))]).unwrap_err(), OrgTreeError::NoRoot);
}

#[test]
fn a_wide_deep_tree_builds_without_recursion() -> anyhow::Result<()> {
    // 100 000 levels would overflow a recursive DFS.
    let tree = OrgTree::build((0..100_000u128).map(|i| org(i, i.checked_sub(1))))?;
    assert!(tree.is_descendant_or_self(o(99_999), o(0)));
    assert_eq!(tree.depth(o(99_999)), Some(99_999));
    Ok(())
}

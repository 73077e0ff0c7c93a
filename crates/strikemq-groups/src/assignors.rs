//! The server-side assignors of KIP-848 consumer groups.
//!
//! Both take each member's subscribed topic ids and each topic's partition count, and give every
//! partition of a subscribed topic to exactly one member subscribed to it.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::consumer::Assignment;

/// `uniform`: as even as the subscriptions allow (no member holds two partitions more than
/// another member that could take one of them), keeping each member's previous partitions
/// where that does not unbalance the group.
pub(crate) fn uniform(
    subs: &BTreeMap<String, BTreeSet<Uuid>>,
    partitions: &BTreeMap<Uuid, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    // Members by index, in id order: a tie on load goes to the smallest id.
    let members: Vec<&String> = subs.keys().collect();
    let index: BTreeMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    // The members subscribed to each topic.
    let mut eligible: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for (i, s) in subs.values().enumerate() {
        for t in s {
            eligible.entry(*t).or_default().push(i);
        }
    }
    let mut owner: BTreeMap<(Uuid, i32), usize> = BTreeMap::new();
    let mut count = vec![0usize; members.len()];
    // The least loaded member subscribed to `t` whose load stays under `limit` with one more.
    let least = |count: &[usize], t: &Uuid, limit: usize| {
        eligible
            .get(t)?
            .iter()
            .copied()
            .filter(|&i| count[i] + 1 < limit)
            .min_by_key(|&i| (count[i], i))
    };
    // Keep what each member had, while it is still subscribed and the partition exists.
    for (m, had) in previous {
        let Some(&i) = index.get(m.as_str()) else {
            continue;
        };
        for (t, ps) in had {
            let n = partitions.get(t).copied().unwrap_or(0);
            if !subs[m].contains(t) {
                continue;
            }
            for &p in ps {
                if p < n && !owner.contains_key(&(*t, p)) {
                    owner.insert((*t, p), i);
                    count[i] += 1;
                }
            }
        }
    }
    // Partitions nobody has go to the least loaded member subscribed to them.
    for (t, &n) in partitions {
        for p in 0..n {
            if owner.contains_key(&(*t, p)) {
                continue;
            }
            if let Some(i) = least(&count, t, usize::MAX) {
                owner.insert((*t, p), i);
                count[i] += 1;
            }
        }
    }
    // Move partitions from members that hold two or more than another eligible member, the
    // highest first: a member keeps the start of what it had.
    loop {
        let mut moved = false;
        let keys: Vec<(Uuid, i32)> = owner.keys().rev().copied().collect();
        for key in keys {
            let from = owner[&key];
            if let Some(to) = least(&count, &key.0, count[from]) {
                count[from] -= 1;
                count[to] += 1;
                owner.insert(key, to);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    collect(
        subs,
        owner
            .into_iter()
            .map(|(k, i)| (k, members[i].clone()))
            .collect(),
    )
}

/// `range`: per topic, the members subscribed to it (by member id) each take a contiguous range
/// of its partitions, the first ones one more when they do not divide evenly.
pub(crate) fn range(
    subs: &BTreeMap<String, BTreeSet<Uuid>>,
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut owner = BTreeMap::new();
    for (t, &n) in partitions {
        let members: Vec<&String> = subs
            .iter()
            .filter(|(_, s)| s.contains(t))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() {
            continue;
        }
        let n = n.max(0) as usize;
        let (each, extra) = (n / members.len(), n % members.len());
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let take = each + usize::from(i < extra);
            for p in next..next + take {
                owner.insert((*t, p as i32), (*m).clone());
            }
            next += take;
        }
    }
    collect(subs, owner)
}

fn collect(
    subs: &BTreeMap<String, BTreeSet<Uuid>>,
    owner: BTreeMap<(Uuid, i32), String>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subs
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for ((t, p), m) in owner {
        out.entry(m).or_default().entry(t).or_default().insert(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn counts(a: &BTreeMap<String, Assignment>) -> Vec<usize> {
        a.values()
            .map(|x| x.values().map(BTreeSet::len).sum())
            .collect()
    }

    #[test]
    fn uniform_balances_and_keeps_what_it_can() {
        let t = topic(1);
        let parts = BTreeMap::from([(t, 7)]);
        let subs: BTreeMap<String, BTreeSet<Uuid>> = ["a", "b", "c"]
            .iter()
            .map(|m| (m.to_string(), BTreeSet::from([t])))
            .collect();
        let first = uniform(&subs, &parts, &BTreeMap::new());
        let mut c = counts(&first);
        c.sort();
        assert_eq!(c, vec![2, 2, 3]);
        // A fourth member: the others give up partitions, none takes another's.
        let mut subs4 = subs.clone();
        subs4.insert("d".into(), BTreeSet::from([t]));
        let second = uniform(&subs4, &parts, &first);
        let mut c = counts(&second);
        c.sort();
        assert_eq!(c, vec![1, 2, 2, 2]);
        for m in ["a", "b", "c"] {
            let kept = &second[m][&t];
            assert!(kept.is_subset(&first[m][&t]), "{m} moved");
        }
        // Every partition once.
        let all: BTreeSet<i32> = second
            .values()
            .flat_map(|a| a[&t].iter().copied())
            .collect();
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn uniform_respects_subscriptions() {
        let (t, u) = (topic(1), topic(2));
        let parts = BTreeMap::from([(t, 4), (u, 2)]);
        let subs = BTreeMap::from([
            ("a".to_string(), BTreeSet::from([t])),
            ("b".to_string(), BTreeSet::from([t, u])),
        ]);
        let out = uniform(&subs, &parts, &BTreeMap::new());
        assert!(!out["a"].contains_key(&u));
        assert_eq!(counts(&out), vec![3, 3]);
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let t = topic(1);
        let parts = BTreeMap::from([(t, 5)]);
        let subs: BTreeMap<String, BTreeSet<Uuid>> = ["a", "b"]
            .iter()
            .map(|m| (m.to_string(), BTreeSet::from([t])))
            .collect();
        let out = range(&subs, &parts);
        assert_eq!(out["a"][&t], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["b"][&t], BTreeSet::from([3, 4]));
    }
}

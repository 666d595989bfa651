-- Since revision 0011 the functions and triggers this revision once defined live in one
-- file each under their package (`<package>/sql/`, applied by migrations/objects.py);
-- this file keeps its tables, indexes, constraints, grants and data.

-- Group commit, set-based: a batch of new, ordinary entries goes in with one INSERT of
-- entries and one of postings (so the posting check runs once per batch, not once per
-- entry). The batch is tried together first, in one subtransaction; anything unusual
-- (a replayed or repeated key, a reversal, an unknown account, an unbalanced entry, a
-- balance that would cross its floor, or any refusal by the book itself) sends the
-- whole batch down the one-entry-at-a-time path of 0001, where each entry succeeds or
-- fails on its own. The book's own checks (posting trigger, deferred balance check,
-- unique keys) hold on both paths; this path only decides when trying together is safe
-- to attempt.


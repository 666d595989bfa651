-- rating.low: a rating of 2 or less (feedback.model.LOW_RATING_MAX) of an activity or a
-- service request, to the realm's staff. Counts, not people: no rater, no comment.
CREATE OR REPLACE FUNCTION notify_ratings_low() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO events (realm, type, subject_id, payload)
    SELECT g.realm, 'rating.low', g.subject_id,
           jsonb_build_object('subject_kind', g.subject_kind, 'subject_id', g.subject_id, 'rating', g.rating)
      FROM added g
     WHERE g.rating <= 2
     ORDER BY g.realm, g.subject_kind, g.subject_id, g.rater_id;
    RETURN NULL;
END $$;

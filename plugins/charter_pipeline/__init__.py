"""The charter booking pipeline: Boatsetter exports in; JADA calendar, ShipCaptainCrew and guest pages out."""

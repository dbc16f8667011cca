"""Reply-time SLAs: business calendars and the policies that choose a fan message's targets."""

"""Published bedside scores (spec section 11): m-EASIX and EASIX, shown beside the site's models,
never as the site's own prediction."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prcrs_site.settings")

from prcrs_site.request_guards import guard_wsgi  # noqa: E402  (after the settings module is set)

# Django builds the request object outside its error handling: the guard defuses the headers
# that would make that raise, and gives chunked bodies a length (prcrs_site.request_guards).
application = guard_wsgi(get_wsgi_application())
